package control

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stockade/stockade/model"
)

// TestKeyPairsSurviveReopen: an imported key pair keeps its ID, fingerprint, public key and
// tags across a restart, and its name stays taken (InvalidKeyPair.Duplicate).
func TestKeyPairsSurviveReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "s.db")
	st := openBolt(t, path)
	s := openService(t, st)
	pub := "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl me"
	kp, _, err := s.ImportKeyPair(ctx, alice, ImportKeyPairInput{Name: "deploy", Material: []byte(pub), Tags: model.Tags{"team": "blue"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateTags(ctx, alice, CreateTagsInput{IDs: []string{kp.ID}, Tags: model.Tags{"env": "prod"}}); err != nil {
		t.Fatal(err)
	}
	st.Close()

	s2 := openService(t, openBolt(t, path))
	got := mustViewOf(t, s2, alice, func(v View) *model.KeyPair { k, _ := v.KeyPair("deploy", ""); return k })
	want := *kp
	want.Tags = model.Tags{"team": "blue", "env": "prod"}
	if got == nil {
		t.Fatal("key pair lost")
	}
	if diff := cmp.Diff(&want, got); diff != "" {
		t.Errorf("after reopen (-want +got):\n%s", diff)
	}
	if _, _, err := s2.ImportKeyPair(ctx, alice, ImportKeyPairInput{Name: "deploy", Material: []byte(pub)}); code(err) != "InvalidKeyPair.Duplicate" {
		t.Errorf("re-import after reopen: %v", err)
	}
}
