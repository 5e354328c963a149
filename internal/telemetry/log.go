package telemetry

import (
	"fmt"
	"io"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// LogConfig says how to log.
type LogConfig struct {
	Format string // json | console
	Level  string // debug | info | warn | error
}

// NewLogger returns a zap logger writing one line per event to w.
func NewLogger(w io.Writer, cfg LogConfig) (*zap.Logger, error) {
	level, err := zapcore.ParseLevel(cfg.Level)
	if err != nil {
		return nil, fmt.Errorf("log level %q: %w", cfg.Level, err)
	}
	enc := zapcore.EncoderConfig{
		TimeKey:        "ts",
		LevelKey:       "level",
		NameKey:        "logger",
		MessageKey:     "msg",
		StacktraceKey:  "stacktrace",
		LineEnding:     zapcore.DefaultLineEnding,
		EncodeLevel:    zapcore.LowercaseLevelEncoder,
		EncodeTime:     func(t time.Time, pe zapcore.PrimitiveArrayEncoder) { pe.AppendString(Time(t)) },
		EncodeDuration: zapcore.StringDurationEncoder,
	}
	var encoder zapcore.Encoder
	switch cfg.Format {
	case "console":
		encoder = zapcore.NewConsoleEncoder(enc)
	case "json", "":
		encoder = zapcore.NewJSONEncoder(enc)
	default:
		return nil, fmt.Errorf("log format %q: json or console", cfg.Format)
	}
	core := zapcore.NewCore(encoder, zapcore.Lock(zapcore.AddSync(w)), level)
	return zap.New(newUniqueFields(core)), nil
}

// Time formats t as the design's log lines do: RFC3339, UTC, seconds precision.
func Time(t time.Time) string { return t.UTC().Truncate(time.Second).Format(time.RFC3339) }

// Percent formats a fraction as a percentage with two decimals (ER=4.23%).
func Percent(f float64) string { return fmt.Sprintf("%.2f", f*100) }
