package trail

import (
	"fmt"
	"testing"
	"time"
)

// TestTimeKey: the outbox's and the replica's time keys are fmt's "%012d" of the Unix
// seconds, which they replaced on every change's path, for any time.
func TestTimeKey(t *testing.T) {
	for _, n := range []int64{0, 1, 9, 10, 1733112000, 99999999999, 999999999999, 1000000000000, 1 << 40, -1, -123456} {
		tm := time.Unix(n, 0)
		if got, want := timeKey(tm), fmt.Sprintf("%012d", n); got != want {
			t.Errorf("timeKey(%d) = %q, want %q", n, got, want)
		}
		r := &Record{Time: tm, EventID: "e1"}
		if got, want := outboxKey(r), OutboxPrefix+fmt.Sprintf("%012d", n)+"/e1"; got != want {
			t.Errorf("outboxKey = %q, want %q", got, want)
		}
	}
}
