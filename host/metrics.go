package host

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	applies      *prometheus.CounterVec
	applySeconds *prometheus.HistogramVec
	enforced     prometheus.Gauge
	drift        prometheus.Counter
	forwarding   prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) metrics {
	m := metrics{
		applies: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "stockade_agent_transactions_total",
			Help: "nftables transactions by kind (update, replace) and result (ok, error)."}, []string{"kind", "result"}),
		applySeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "stockade_agent_transaction_seconds",
			Help: "Time to apply one nftables transaction.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)}, []string{"kind"}),
		enforced: prometheus.NewGauge(prometheus.GaugeOpts{Name: "stockade_agent_enforced_revision",
			Help: "The store revision the kernel enforces."}),
		drift: prometheus.NewCounter(prometheus.CounterOpts{Name: "stockade_agent_drift_repairs_total",
			Help: "Rulesets found changed outside Stockade and restored."}),
		forwarding: prometheus.NewCounter(prometheus.CounterOpts{Name: "stockade_agent_forwarding_repairs_total",
			Help: "Routers found with forwarding turned off outside Stockade and turned back on."}),
	}
	if reg != nil {
		reg.MustRegister(m.applies, m.applySeconds, m.enforced, m.drift, m.forwarding)
	}
	return m
}
