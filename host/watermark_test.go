package host_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stockade/stockade/host"
)

func TestWatermark(t *testing.T) {
	var w host.Watermark
	var wg sync.WaitGroup
	for rev := int64(1); rev <= 20; rev++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := w.Wait(ctx, rev); err != nil {
				t.Errorf("wait for %d: %v", rev, err)
			}
		}()
	}
	for rev := int64(1); rev <= 20; rev += 3 {
		w.Set(rev)
	}
	if w.Set(5) {
		t.Error("the watermark went down")
	}
	w.Set(20)
	wg.Wait()
	if got := w.Get(); got != 20 {
		t.Errorf("watermark %d, want 20", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := w.Wait(ctx, 21); err == nil {
		t.Error("a wait beyond the watermark returned without its context ending")
	}
}
