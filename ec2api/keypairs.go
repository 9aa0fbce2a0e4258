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
	kp, material, res, err := c.svc().CreateKeyPair(c.ctx, c.tenant, control.CreateKeyPairInput{
		Name: str(r, "KeyName"), Type: str(r, "KeyType"), Format: str(r, "KeyFormat"), Tags: tags, DryRun: c.dryRun(),
	})
	if err != nil {
		return err
	}
	x := c.written(res)
	x.str("keyName", kp.Name)
	x.str("keyFingerprint", kp.Fingerprint)
	x.str("keyMaterial", material)
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
		return &model.Error{Code: "InvalidKeyPair.Format", Message: "Key is not in valid OpenSSH public key format", Cause: err}
	}
	kp, res, err := c.svc().ImportKeyPair(c.ctx, c.tenant, str(r, "KeyName"), material, tags, c.dryRun())
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

func describeKeyPairs(c *call) error {
	names, err := ids(c.req, "KeyName")
	if err != nil {
		return err
	}
	keyIDs, err := ids(c.req, "KeyPairId")
	if err != nil {
		return err
	}
	includePub, _, err := optBool(c.req, "IncludePublicKey")
	if err != nil {
		return err
	}
	var items []*model.KeyPair
	err = c.svc().View(c.ctx, c.tenant, func(v control.View) error {
		if len(names)+len(keyIDs) == 0 {
			items = v.KeyPairs()
			return nil
		}
		seen := map[string]bool{}
		for _, n := range names {
			kp, err := v.KeyPair(n, "")
			if err != nil {
				return err
			}
			if !seen[kp.ID] {
				seen[kp.ID] = true
				items = append(items, kp)
			}
		}
		for _, id := range keyIDs {
			kp, err := v.KeyPair("", id)
			if err != nil {
				return err
			}
			if !seen[kp.ID] {
				seen[kp.ID] = true
				items = append(items, kp)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if items, err = keyPairFilters.filter(c.req, items); err != nil {
		return err
	}
	c.out.open("keySet")
	for _, kp := range items {
		c.out.open("item")
		c.out.str("keyPairId", kp.ID)
		c.out.str("keyType", kp.Type)
		c.out.str("keyName", kp.Name)
		c.out.str("keyFingerprint", kp.Fingerprint)
		c.out.time("createTime", kp.CreateTime)
		if includePub {
			c.out.str("publicKey", kp.PublicKey)
		}
		writeTags(&c.out, kp.Tags)
		c.out.close("item")
	}
	c.out.close("keySet")
	return nil
}

func deleteKeyPair(c *call) error {
	id, res, err := c.svc().DeleteKeyPair(c.ctx, c.tenant, str(c.req, "KeyName"), str(c.req, "KeyPairId"), c.dryRun())
	if err != nil {
		return err
	}
	x := c.written(res)
	x.bool("return", true)
	x.opt("keyPairId", id)
	return nil
}
