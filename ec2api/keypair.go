package ec2api

import (
	"encoding/base64"

	"github.com/stockade/stockade/control"
	"github.com/stockade/stockade/model"
)

func createKeyPair(c *call) error {
	r := c.req
	tags, err := tagsFor(r, "key-pair")
	if err != nil {
		return err
	}
	out, res, err := c.svc().CreateKeyPair(c.ctx, c.tenant, control.CreateKeyPairInput{
		Name: str(r, "KeyName"), Type: str(r, "KeyType"), Format: str(r, "KeyFormat"), Tags: tags, DryRun: c.dryRun(),
	})
	if err != nil {
		return err
	}
	kp := out.KeyPair
	x := c.written(res)
	x.str("keyName", kp.Name)
	x.str("keyFingerprint", kp.Fingerprint)
	x.str("keyMaterial", out.Material)
	x.str("keyPairId", kp.ID)
	writeTags(x, kp.Tags)
	return nil
}

func importKeyPair(c *call) error {
	r := c.req
	tags, err := tagsFor(r, "key-pair")
	if err != nil {
		return err
	}
	raw := str(r, "PublicKeyMaterial")
	if raw == "" {
		return model.Missing("PublicKeyMaterial")
	}
	// The SDKs and the CLI base64-encode the key text (a blob member, spec §11.29).
	material, err := base64.StdEncoding.DecodeString(raw)
	if err != nil {
		return model.InvalidKeyPairFormat.Errorf("Key is not in valid OpenSSH public key format").WithCause(err)
	}
	kp, res, err := c.svc().ImportKeyPair(c.ctx, c.tenant, control.ImportKeyPairInput{Name: str(r, "KeyName"), Material: material, Tags: tags, DryRun: c.dryRun()})
	if err != nil {
		return err
	}
	x := c.written(res)
	x.str("keyFingerprint", kp.Fingerprint)
	x.str("keyName", kp.Name)
	x.str("keyPairId", kp.ID)
	writeTags(x, kp.Tags)
	return nil
}

var keyPairFilters = filterer[*model.KeyPair]{
	fields: fields[*model.KeyPair]{
		"key-pair-id": one2(func(k *model.KeyPair) string { return k.ID }),
		"fingerprint": one2(func(k *model.KeyPair) string { return k.Fingerprint }),
		"key-name":    one2(func(k *model.KeyPair) string { return k.Name }),
		"key-type":    one2(func(k *model.KeyPair) string { return k.Type }),
	},
	tagsOf: func(k *model.KeyPair) model.Tags { return k.Tags },
}

var describeKeyPairs = describeSpec[*model.KeyPair]{
	IDs: []string{"KeyName", "KeyPairId"},
	From: func(_ *call, v control.View) source[*model.KeyPair] {
		return src(v.KeyPairs, func(name string) (*model.KeyPair, error) { return v.KeyPair(name, "") },
			func(id string) (*model.KeyPair, error) { return v.KeyPair("", id) })
	},
	Filters: keyPairFilters,
	Key:     func(k *model.KeyPair) string { return k.Name },
	Set:     "keySet",
	Item:    writeKeyPair,
}

func writeKeyPair(c *call, kp *model.KeyPair) {
	x := &c.out
	x.str("keyPairId", kp.ID)
	x.str("keyType", kp.Type)
	x.str("keyName", kp.Name)
	x.str("keyFingerprint", kp.Fingerprint)
	x.time("createTime", kp.CreateTime)
	if includePub, _, _ := c.req.Bool("IncludePublicKey"); includePub { // validated against the model already
		x.str("publicKey", kp.PublicKey)
	}
	writeTags(x, kp.Tags)
}

func deleteKeyPair(c *call) error {
	id, res, err := c.svc().DeleteKeyPair(c.ctx, c.tenant, control.DeleteKeyPairInput{Name: str(c.req, "KeyName"), ID: str(c.req, "KeyPairId"), DryRun: c.dryRun()})
	if err != nil {
		return err
	}
	x := c.written(res)
	x.bool("return", true)
	x.opt("keyPairId", id)
	return nil
}
