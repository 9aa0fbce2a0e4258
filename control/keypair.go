package control

import (
	"context"
	"errors"

	"github.com/stockade/stockade/keypair"
	"github.com/stockade/stockade/model"
)

// CreateKeyPairInput are CreateKeyPair's parameters.
type CreateKeyPairInput struct {
	Name   string
	Type   string // rsa (default) or ed25519
	Format string // pem (default) or ppk
	Tags   model.Tags
	DryRun bool
}

// CreateKeyPairOutput is what CreateKeyPair returns: the stored key pair and the private key
// material, which is never stored.
type CreateKeyPairOutput struct {
	KeyPair  *model.KeyPair
	Material string
}

// CreateKeyPair generates a key pair, stores its public half and returns the private key
// material, which is never stored.
func (s *Service) CreateKeyPair(ctx context.Context, t Tenant, in CreateKeyPairInput) (CreateKeyPairOutput, Result, error) {
	if err := validateKeyName(in.Name); err != nil {
		return CreateKeyPairOutput{}, Result{}, err
	}
	if in.Type == "" {
		in.Type = "rsa"
	}
	if in.Format == "" {
		in.Format = "pem"
	}
	if in.Type != "rsa" && in.Type != "ed25519" {
		return CreateKeyPairOutput{}, Result{}, model.InvalidValue("Value (%s) for parameter keyType is invalid. Valid values: rsa, ed25519", in.Type)
	}
	if in.Format != "pem" && in.Format != "ppk" {
		return CreateKeyPairOutput{}, Result{}, model.InvalidValue("Value (%s) for parameter keyFormat is invalid. Valid values: pem, ppk", in.Format)
	}
	var out CreateKeyPairOutput
	res, err := s.write(ctx, t, in.DryRun, func(tx *tx) error {
		if err := s.checkNewKey(tx, in.Name); err != nil {
			return err
		}
		if in.DryRun {
			return nil // do not spend a key generation on a dry run
		}
		c, err := keypair.Generate(in.Type, in.Format, in.Name)
		if err != nil {
			return internalError(err)
		}
		kp := &model.KeyPair{ID: model.NewID(model.PrefixKeyPair), Name: in.Name, Type: c.Type,
			Fingerprint: c.Fingerprint, PublicKey: c.PublicKey, CreateTime: tx.now, Tags: in.Tags}
		set(tx, tx.tn.keyPairs, kindKeyPair, kp.ID, kp)
		out = CreateKeyPairOutput{KeyPair: kp, Material: c.Material}
		return nil
	})
	return out, res, err
}

// ImportKeyPairInput are ImportKeyPair's parameters.
type ImportKeyPairInput struct {
	Name     string
	Material []byte // the decoded public key text
	Tags     model.Tags
	DryRun   bool
}

// ImportKeyPair stores a user's public key.
func (s *Service) ImportKeyPair(ctx context.Context, t Tenant, in ImportKeyPairInput) (*model.KeyPair, Result, error) {
	name, material, tags := in.Name, in.Material, in.Tags
	if err := validateKeyName(name); err != nil {
		return nil, Result{}, err
	}
	if len(material) == 0 {
		return nil, Result{}, model.Missing("PublicKeyMaterial")
	}
	imp, err := keypair.Import(material)
	if err != nil {
		if errors.Is(err, keypair.ErrFormat) {
			return nil, Result{}, model.InvalidKeyPairFormat.Errorf("Key is not in valid OpenSSH public key format").WithCause(err)
		}
		return nil, Result{}, internalError(err)
	}
	var kp *model.KeyPair
	res, err := s.write(ctx, t, in.DryRun, func(tx *tx) error {
		if err := s.checkNewKey(tx, name); err != nil {
			return err
		}
		kp = &model.KeyPair{ID: model.NewID(model.PrefixKeyPair), Name: name, Type: imp.Type,
			Fingerprint: imp.Fingerprint, PublicKey: imp.PublicKey, CreateTime: tx.now, Tags: tags}
		set(tx, tx.tn.keyPairs, kindKeyPair, kp.ID, kp)
		return nil
	})
	return kp, res, err
}

func validateKeyName(name string) error {
	if name == "" {
		return model.Missing("KeyName")
	}
	if len(name) > 255 {
		return model.InvalidValue("Value for parameter KeyName is invalid. Key names must be at most 255 ASCII characters.")
	}
	for i := 0; i < len(name); i++ {
		if name[i] < 0x20 || name[i] > 0x7e {
			return model.InvalidValue("Value for parameter KeyName is invalid. Key names must be printable ASCII characters.")
		}
	}
	return nil
}

func (s *Service) checkNewKey(tx *tx, name string) error {
	if tx.tn.keyPairByName(name) != nil {
		return model.InvalidKeyPairDuplicate.New(name)
	}
	if len(tx.tn.keyPairs) >= s.cfg.Quotas.KeyPairs {
		return model.KeyPairLimitExceeded.New(s.cfg.Quotas.KeyPairs)
	}
	return nil
}

func (tn *tenant) keyPairByName(name string) *model.KeyPair {
	for _, k := range tn.keyPairs {
		if k.Name == name {
			return k
		}
	}
	return nil
}

// DeleteKeyPairInput are DeleteKeyPair's parameters: a key pair by name or by ID.
type DeleteKeyPairInput struct {
	Name, ID string
	DryRun   bool
}

// DeleteKeyPair deletes a key pair by name or ID and returns its ID. An unknown name succeeds,
// as on EC2; an unknown ID is InvalidKeyPair.NotFound.
func (s *Service) DeleteKeyPair(ctx context.Context, t Tenant, in DeleteKeyPairInput) (string, Result, error) {
	name, id := in.Name, in.ID
	if name == "" && id == "" {
		return "", Result{}, model.Missing("KeyName")
	}
	var deleted string
	res, err := s.write(ctx, t, in.DryRun, func(tx *tx) error {
		var kp *model.KeyPair
		if id != "" {
			if kp = tx.tn.keyPairs[id]; kp == nil {
				if !model.ValidID(model.PrefixKeyPair, id) {
					return model.InvalidKeyPairMalformed.New(id)
				}
				return model.InvalidKeyPairNotFound.New(id)
			}
		} else if kp = tx.tn.keyPairByName(name); kp == nil {
			return nil
		}
		deleted = kp.ID
		set[model.KeyPair](tx, tx.tn.keyPairs, kindKeyPair, kp.ID, nil)
		return nil
	})
	return deleted, res, err
}
