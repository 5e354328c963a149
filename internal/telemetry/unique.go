package telemetry

import "go.uber.org/zap/zapcore"

// uniqueFields drops a field whose key the line already carries (from the logger's With, or earlier in
// the same call), so each structured field appears once per line: JSON log parsers keep only one of two
// equal keys, and which one is not defined. The first occurrence wins.
type uniqueFields struct {
	zapcore.Core
	keys map[string]bool // keys added by With; never mutated after construction
	// nested: a With opened a namespace, so later keys belong to it and are not compared.
	nested bool
}

func newUniqueFields(c zapcore.Core) zapcore.Core {
	return &uniqueFields{Core: c, keys: map[string]bool{}}
}

func (u *uniqueFields) With(fields []zapcore.Field) zapcore.Core {
	if u.nested {
		return &uniqueFields{Core: u.Core.With(fields), keys: u.keys, nested: true}
	}
	keys := make(map[string]bool, len(u.keys)+len(fields))
	for k := range u.keys {
		keys[k] = true
	}
	kept, nested := u.filter(fields, keys)
	return &uniqueFields{Core: u.Core.With(kept), keys: keys, nested: nested}
}

func (u *uniqueFields) Check(ent zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if u.Enabled(ent.Level) {
		return ce.AddCore(ent, u)
	}
	return ce
}

func (u *uniqueFields) Write(ent zapcore.Entry, fields []zapcore.Field) error {
	if u.nested {
		return u.Core.Write(ent, fields)
	}
	keys := make(map[string]bool, len(u.keys)+len(fields))
	for k := range u.keys {
		keys[k] = true
	}
	kept, _ := u.filter(fields, keys)
	return u.Core.Write(ent, kept)
}

// filter returns fields without keys already in seen, adding the kept ones to seen. After a namespace
// field, keys belong to the nested object and are left alone (nested is then true).
func (u *uniqueFields) filter(fields []zapcore.Field, seen map[string]bool) (kept []zapcore.Field, nested bool) {
	out := make([]zapcore.Field, 0, len(fields))
	for i, f := range fields {
		if f.Type == zapcore.NamespaceType {
			return append(out, fields[i:]...), true
		}
		if seen[f.Key] {
			continue
		}
		seen[f.Key] = true
		out = append(out, f)
	}
	return out, false
}
