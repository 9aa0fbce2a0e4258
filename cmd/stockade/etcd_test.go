package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/stockade/stockade/datadir"
	"github.com/stockade/stockade/store"
	"github.com/stockade/stockade/store/etcd"
	"github.com/stockade/stockade/store/etcd/etcdtest"
)

// TestOpenStoreOnEtcd: with endpoints, openStore opens etcd (no store file in the data
// directory), taking the password from $STOCKADE_ETCD_PASSWORD when the flag is not given;
// a refusal names the flag.
func TestOpenStoreOnEtcd(t *testing.T) {
	srv := etcdtest.Start(t)
	ctx := context.Background()
	cli, err := clientv3.New(clientv3.Config{Endpoints: srv.Endpoints, DialTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	if _, err := cli.UserAdd(ctx, "root", "secret"); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.UserGrantRole(ctx, "root", "root"); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.AuthEnable(ctx); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	cfg := serverConfig{DataDir: t.TempDir(), Listen: "127.0.0.1:0",
		Etcd: etcd.Options{Endpoints: srv.Endpoints, Username: "root", Timeout: 10 * time.Second}} // etcd checks passwords with bcrypt: slow under -race on a loaded machine

	t.Setenv(etcdPasswordEnv, "secret")
	st, err := openStore(ctx, cfg, log)
	if err != nil {
		t.Fatalf("openStore with the password from the environment: %v", err)
	}
	if _, ok := st.(*etcd.Store); !ok {
		t.Errorf("openStore opened a %T", st)
	}
	if _, err := st.Txn(ctx, nil, []store.Op{{Key: "k", Value: []byte("v")}}); err != nil {
		t.Errorf("Txn: %v", err)
	}
	st.Close()
	if _, err := os.Stat(filepath.Join(cfg.DataDir, datadir.Store)); !os.IsNotExist(err) {
		t.Errorf("a store file in the data directory: %v", err)
	}

	t.Setenv(etcdPasswordEnv, "wrong")
	if st, err := openStore(ctx, cfg, log); err == nil || !strings.HasPrefix(err.Error(), "--etcd-endpoints") {
		if st != nil {
			st.Close()
		}
		t.Errorf("openStore with a wrong password: %v", err)
	}
}
