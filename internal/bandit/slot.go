package bandit

import (
	"strconv"
	"time"
)

// HourArm is the hour scope's arm for t: its hour in loc (ACCOUNT_TZ), "0".."23".
func HourArm(t time.Time, loc *time.Location) string { return strconv.Itoa(t.In(loc).Hour()) }
