// Package config owns xbot's configuration: every environment variable of the design, parsed once into
// one Config with its defaults and allowed ranges. A bad value is an *Error whose text is the one line
// printed on stderr. It imports nothing of xbot's.
package config
