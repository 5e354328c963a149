package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// QuietHours is a daily window of local hours (in the account's ACCOUNT_TZ) in which nothing is scheduled or
// sent: from Start:00 up to End:00, wrapping midnight when Start > End ("22-7": 22:00 to 07:00). The zero
// value is no quiet hours.
type QuietHours struct {
	Start, End int
	Set        bool
}

// ParseQuietHours reads "START-END" (hours, START 0-23, END 1-24, not equal); "" is none.
func ParseQuietHours(s string) (QuietHours, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return QuietHours{}, nil
	}
	a, b, ok := strings.Cut(s, "-")
	start, err1 := strconv.Atoi(strings.TrimSpace(a))
	end, err2 := strconv.Atoi(strings.TrimSpace(b))
	if !ok || err1 != nil || err2 != nil || start < 0 || start > 23 || end < 1 || end > 24 || start == end%24 {
		return QuietHours{}, fmt.Errorf("quiet hours %q: START-END in local hours, such as 22-7", s)
	}
	return QuietHours{Start: start, End: end % 24, Set: true}, nil
}

// String is the window as configured ("22-7"), or "" for none.
func (q QuietHours) String() string {
	if !q.Set {
		return ""
	}
	return fmt.Sprintf("%d-%d", q.Start, q.End)
}

// Contains reports whether a local hour (0-23) is quiet.
func (q QuietHours) Contains(hour int) bool {
	switch {
	case !q.Set:
		return false
	case q.Start < q.End:
		return hour >= q.Start && hour < q.End
	default: // wraps midnight; End 0 means up to midnight
		return hour >= q.Start || hour < q.End
	}
}

// Until reports whether t is inside the quiet hours in loc and, if so, when they end: the first hour
// boundary after t whose local hour is not quiet.
func (q QuietHours) Until(t time.Time, loc *time.Location) (time.Time, bool) {
	local := t.In(loc)
	if !q.Contains(local.Hour()) {
		return t, false
	}
	at := local
	for range 26 { // at most a day, plus a DST change
		at = time.Date(at.Year(), at.Month(), at.Day(), at.Hour()+1, 0, 0, 0, loc)
		if !q.Contains(at.Hour()) {
			break
		}
	}
	return at, true
}

func (p *parser) quietHours(name string, def QuietHours) QuietHours {
	v, ok := p.raw(name)
	if !ok {
		return def
	}
	q, err := ParseQuietHours(v)
	if err != nil {
		p.fail(name, v, "START-END in local hours (ACCOUNT_TZ), such as 22-7")
		return def
	}
	return q
}
