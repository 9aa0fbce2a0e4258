package ec2api

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the API's Prometheus metrics: requests by action and result code, and latency.
type Metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

// NewMetrics registers the API metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stockade_api_requests_total",
			Help: "EC2 API requests by action and result code (\"ok\" for success).",
		}, []string{"action", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "stockade_api_request_duration_seconds",
			Help:    "EC2 API request latency by action, from first byte read to response written.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"action"}),
	}
	reg.MustRegister(m.requests, m.latency)
	return m
}

func (m *Metrics) observe(action, code string, d time.Duration) {
	if m == nil {
		return
	}
	if action == "" {
		action = "none"
	}
	if code == "" {
		code = "ok"
	}
	m.requests.WithLabelValues(action, code).Inc()
	m.latency.WithLabelValues(action).Observe(d.Seconds())
}
