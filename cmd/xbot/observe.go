package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/riverqueue/river/rivertype"
	"github.com/riverqueue/rivercontrib/otelriver"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/xbot/xbot/internal/config"
)

// observability is one process's metrics and traces: a Prometheus registry that /metrics serves (Go and
// process figures, River's per-job metrics from otelriver through OpenTelemetry's Prometheus exporter, and
// in the web server the database figures), plus OTLP export of metrics and spans when
// OTEL_EXPORTER_OTLP_ENDPOINT is set.
type observability struct {
	registry *prometheus.Registry
	meters   *sdkmetric.MeterProvider
	tracer   trace.TracerProvider
	shutdown []func(context.Context) error
}

// envObservability builds the process's observability once (xbot dev's web server and workers share it).
type envObservability struct {
	once sync.Once
	o    *observability
	err  error
}

// observe returns the process's observability, building it on first use; Close shuts it down.
func (e *env) observe(ctx context.Context, m *Main) (*observability, error) {
	e.obs.once.Do(func() {
		e.obs.o, e.obs.err = newObservability(ctx, e.cfg)
		if e.obs.err == nil {
			m.onClose(e.obs.o.close)
		}
	})
	return e.obs.o, e.obs.err
}

func newObservability(ctx context.Context, cfg *config.Config) (*observability, error) {
	o := &observability{registry: prometheus.NewRegistry(), tracer: noop.NewTracerProvider()}
	o.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	prom, err := otelprom.New(otelprom.WithRegisterer(o.registry), otelprom.WithoutScopeInfo())
	if err != nil {
		return nil, fmt.Errorf("prometheus exporter: %w", err)
	}
	res := resource.NewSchemaless(attribute.String("service.name", "xbot"))
	opts := []sdkmetric.Option{sdkmetric.WithReader(prom), sdkmetric.WithResource(res)}
	if cfg.OTLPEndpoint != "" {
		// The variable is the base URL of an OTLP/HTTP collector; each signal has its path under it. Headers
		// (OTEL_EXPORTER_OTLP_HEADERS) and the like are read by the exporters themselves.
		base := strings.TrimRight(cfg.OTLPEndpoint, "/")
		mexp, err := otlpmetrichttp.New(ctx, otlpmetrichttp.WithEndpointURL(base+"/v1/metrics"))
		if err != nil {
			return nil, fmt.Errorf("otlp metrics exporter: %w", err)
		}
		opts = append(opts, sdkmetric.WithReader(sdkmetric.NewPeriodicReader(mexp, sdkmetric.WithInterval(15*time.Second))))
		texp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(base+"/v1/traces"))
		if err != nil {
			return nil, fmt.Errorf("otlp trace exporter: %w", err)
		}
		tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(texp), sdktrace.WithResource(res))
		o.tracer = tp
		o.shutdown = append(o.shutdown, tp.Shutdown)
	}
	o.meters = sdkmetric.NewMeterProvider(opts...)
	o.shutdown = append(o.shutdown, o.meters.Shutdown)
	return o, nil
}

// riverPlugin is otelriver's middleware: per-job metrics (river_work_count, durations, inserts) and a span
// per job worked.
func (o *observability) riverPlugin() rivertype.Plugin {
	return otelriver.NewMiddleware(&otelriver.MiddlewareConfig{
		MeterProvider: o.meters, TracerProvider: o.tracer, EnableWorkSpanJobKindSuffix: true,
	})
}

// close flushes OTLP exports (bounded) and stops the providers.
func (o *observability) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var errs []error
	for _, f := range o.shutdown {
		errs = append(errs, f(ctx))
	}
	_ = errors.Join(errs...) // nothing left to report to at exit
}

// riverPlugins are the fleet's River plugins: otelriver.
func riverPlugins(ctx context.Context, m *Main, e *env) ([]rivertype.Plugin, error) {
	o, err := e.observe(ctx, m)
	if err != nil {
		return nil, err
	}
	return []rivertype.Plugin{o.riverPlugin()}, nil
}
