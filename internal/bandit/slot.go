package bandit

import (
	"fmt"
	"strconv"
	"time"
)

// HourArm is the hour scope's arm for t: its hour in loc (ACCOUNT_TZ), "0".."23".
func HourArm(t time.Time, loc *time.Location) string { return strconv.Itoa(t.In(loc).Hour()) }

// NextSlot is where a plan's post starts (DESIGN.md section 4b): the earliest instant in
// [now, now+window] whose hour in loc is the picked hour arm — now itself when now is in that hour,
// else the start of that hour. When the hour does not occur in the window (including window 0 outside
// that hour), it is now: pacing decides from there, and the hour actually used (HourArm of the stored
// time) is what the hour arm learns from. ok reports whether the picked hour was honoured.
func NextSlot(hourPick string, now time.Time, window time.Duration, loc *time.Location) (slot time.Time, ok bool, err error) {
	h, err := strconv.Atoi(hourPick)
	if err != nil || h < 0 || h > 23 {
		return time.Time{}, false, fmt.Errorf("bandit: hour arm %q is not 0..23", hourPick)
	}
	if window < 0 {
		return time.Time{}, false, fmt.Errorf("bandit: negative plan window %v", window)
	}
	if loc == nil {
		loc = time.UTC
	}
	local := now.In(loc)
	end := now.Add(window)
	// Days ahead: a window of N hours reaches at most N/24+1 days later.
	for day := 0; day <= int(window/(24*time.Hour))+1; day++ {
		start := time.Date(local.Year(), local.Month(), local.Day()+day, h, 0, 0, 0, loc)
		if start.In(loc).Hour() != h {
			continue // skipped by a DST change that day
		}
		if !start.Add(time.Hour).After(now) {
			continue // that day's hour is already over
		}
		if !start.After(now) {
			return now, true, nil
		}
		if start.After(end) {
			break
		}
		return start, true, nil
	}
	return now, false, nil
}
