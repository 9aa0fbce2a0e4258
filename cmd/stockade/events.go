package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stockade/stockade/events"
	"github.com/stockade/stockade/events/eventsapi"
	"github.com/stockade/stockade/store"
)

// eventBus is the running EventBridge-compatible bus: its API and the goroutine that
// matches and delivers.
type eventBus struct {
	svc  *events.Service
	bus  *events.Bus
	api  *eventsapi.API
	stop context.CancelFunc
	wg   sync.WaitGroup
}

// startEvents opens the bus over st and starts its delivery. The webhook guard refuses the
// server's own listen address and link-local addresses unless --events-allow-target admits
// them. Its metrics count what it drops, delivers, retries and dead-letters. Stop it after
// the API and the trail have stopped; pending deliveries wait in the store for the next start.
// On a shared store the caller runs the service's Follow.
func startEvents(ctx context.Context, st store.Store, cfg serverConfig, reg prometheus.Registerer, log *slog.Logger) (*eventBus, error) {
	guard := &events.Guard{}
	for _, a := range cfg.EventsAllow {
		p, err := netip.ParsePrefix(a)
		if err != nil {
			return nil, fmt.Errorf("--events-allow-target %q: %w", a, err)
		}
		guard.Allow = append(guard.Allow, p.Masked())
	}
	if ta, err := net.ResolveTCPAddr("tcp", cfg.Listen); err == nil {
		guard.Self = append(guard.Self, ta.AddrPort())
	}
	svc, err := events.Open(ctx, st, events.Config{Guard: guard, Shared: cfg.shared()})
	if err != nil {
		return nil, err
	}
	bus := events.NewBus(svc, st, events.BusConfig{DataDir: cfg.DataDir, Logger: log})
	stat := func(f func(events.Stats) int64) func() float64 {
		return func() float64 { return float64(f(bus.Stats())) }
	}
	reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "stockade_events_dropped_total",
			Help: "Events and deliveries the bus dropped because its bounded queues were full."}, stat(func(s events.Stats) int64 { return s.Dropped })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "stockade_events_delivered_total",
			Help: "Deliveries a webhook accepted."}, stat(func(s events.Stats) int64 { return s.Delivered })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "stockade_events_retries_total",
			Help: "Failed webhook attempts that will be retried."}, stat(func(s events.Stats) int64 { return s.Retried })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "stockade_events_dead_lettered_total",
			Help: "Deliveries given up and written to <data-dir>/" + events.DeadLetterFile + "."}, stat(func(s events.Stats) int64 { return s.DeadLettered })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "stockade_events_pending",
			Help: "Deliveries waiting for their webhook."}, stat(func(s events.Stats) int64 { return s.Pending })),
	)
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	e := &eventBus{svc: svc, bus: bus, api: eventsapi.New(svc), stop: stop}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		if err := bus.Run(runCtx); err != nil {
			log.Error("events: bus stopped", "error", err)
		}
	}()
	return e, nil
}

// close stops delivery; what is pending stays in the store.
func (e *eventBus) close() {
	e.stop()
	e.wg.Wait()
}
