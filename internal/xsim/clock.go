package xsim

import "time"

// Clock is the simulator's base time; the stored clock offset (AdvanceClock) is added to it.
type Clock interface {
	Now() time.Time
}

// WallClock is the real time.
type WallClock struct{}

// Now returns time.Now().
func (WallClock) Now() time.Time { return time.Now() }

// ScaledClock runs Factor times faster than Wall from Origin: with Factor 3600, an hour of simulated
// time passes every wall second. Replicas given the same Origin and Factor agree on the time.
type ScaledClock struct {
	Origin time.Time
	Factor float64
	Wall   func() time.Time // nil: time.Now
}

// Now is Origin plus the wall time elapsed since Origin, scaled.
func (c ScaledClock) Now() time.Time {
	wall := time.Now
	if c.Wall != nil {
		wall = c.Wall
	}
	elapsed := wall().Sub(c.Origin)
	return c.Origin.Add(time.Duration(float64(elapsed) * c.Factor))
}

// FixedClock always returns T; tests move time with Server.AdvanceClock.
type FixedClock struct{ T time.Time }

// Now returns T.
func (c FixedClock) Now() time.Time { return c.T }
