package llm

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"strings"
)

// Schema is a JSON schema for a structured output, in the strict subset OpenAI accepts: every object
// lists all its properties as required and forbids others.
type Schema struct {
	Name   string         // a-z, A-Z, 0-9, _ or -, at most 64
	Schema map[string]any // the JSON schema document
}

var schemaName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// SchemaFor reflects T (a struct) into a strict schema named after the type. Supported: strings,
// bools, integers, floats, slices and arrays, nested structs and pointers to them. Field names come
// from json tags; a `desc:"..."` tag becomes the property's description. Maps, interfaces, channels
// and funcs are refused.
func SchemaFor[T any]() (*Schema, error) {
	t := reflect.TypeFor[T]()
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil, fmt.Errorf("llm: schema for %s: the top level must be a struct", t)
	}
	doc, err := reflectSchema(t, map[reflect.Type]bool{})
	if err != nil {
		return nil, fmt.Errorf("llm: schema for %s: %w", t, err)
	}
	name := t.Name()
	if !schemaName.MatchString(name) {
		name = "output"
	}
	return &Schema{Name: name, Schema: doc}, nil
}

func reflectSchema(t reflect.Type, seen map[reflect.Type]bool) (map[string]any, error) {
	switch t.Kind() {
	case reflect.Pointer:
		return reflectSchema(t.Elem(), seen)
	case reflect.String:
		return map[string]any{"type": "string"}, nil
	case reflect.Bool:
		return map[string]any{"type": "boolean"}, nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}, nil
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}, nil
	case reflect.Slice, reflect.Array:
		items, err := reflectSchema(t.Elem(), seen)
		if err != nil {
			return nil, err
		}
		return map[string]any{"type": "array", "items": items}, nil
	case reflect.Struct:
		if seen[t] {
			return nil, fmt.Errorf("recursive type %s", t)
		}
		seen[t] = true
		defer delete(seen, t)
		props := map[string]any{}
		required := []string{}
		for i := range t.NumField() {
			f := t.Field(i)
			name, ok := jsonName(f)
			if !ok {
				continue
			}
			if f.Anonymous && f.Tag.Get("json") == "" {
				return nil, fmt.Errorf("embedded field %s: give it a json tag", f.Name)
			}
			p, err := reflectSchema(f.Type, seen)
			if err != nil {
				return nil, fmt.Errorf("field %s: %w", f.Name, err)
			}
			if d := f.Tag.Get("desc"); d != "" {
				p["description"] = d
			}
			props[name] = p
			required = append(required, name)
		}
		return map[string]any{"type": "object", "properties": props, "required": required, "additionalProperties": false}, nil
	default:
		return nil, fmt.Errorf("unsupported kind %s", t.Kind())
	}
}

func jsonName(f reflect.StructField) (string, bool) {
	if !f.IsExported() {
		return "", false
	}
	tag := f.Tag.Get("json")
	if tag == "-" {
		return "", false
	}
	name, _, _ := strings.Cut(tag, ",")
	if name == "" {
		name = f.Name
	}
	return name, true
}

// Validate checks a decoded JSON value against a schema of the subset SchemaFor produces: types,
// required properties, no additional properties, array items.
func Validate(schema map[string]any, v any) error { return validate(schema, v, "$") }

func validate(s map[string]any, v any, path string) error {
	typ, _ := s["type"].(string)
	switch typ {
	case "object":
		obj, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: want an object", path)
		}
		props, _ := s["properties"].(map[string]any)
		for _, r := range asStrings(s["required"]) {
			if _, ok := obj[r]; !ok {
				return fmt.Errorf("%s: missing property %q", path, r)
			}
		}
		for k, val := range obj {
			ps, ok := props[k].(map[string]any)
			if !ok {
				if ap, set := s["additionalProperties"].(bool); set && !ap {
					return fmt.Errorf("%s: unexpected property %q", path, k)
				}
				continue
			}
			if err := validate(ps, val, path+"."+k); err != nil {
				return err
			}
		}
	case "array":
		arr, ok := v.([]any)
		if !ok {
			return fmt.Errorf("%s: want an array", path)
		}
		items, _ := s["items"].(map[string]any)
		for i, e := range arr {
			if items == nil {
				break
			}
			if err := validate(items, e, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	case "string":
		if _, ok := v.(string); !ok {
			return fmt.Errorf("%s: want a string", path)
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			return fmt.Errorf("%s: want a boolean", path)
		}
	case "number":
		if _, ok := v.(json.Number); !ok {
			return fmt.Errorf("%s: want a number", path)
		}
	case "integer":
		n, ok := v.(json.Number)
		if !ok {
			return fmt.Errorf("%s: want an integer", path)
		}
		f, err := n.Float64()
		if err != nil || f != math.Trunc(f) {
			return fmt.Errorf("%s: want an integer, got %s", path, n)
		}
	}
	return nil
}

func asStrings(v any) []string {
	switch x := v.(type) {
	case []string:
		return x
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}
