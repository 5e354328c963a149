package llm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Validator is implemented by output types with rules beyond their schema; a failure is invalid output.
type Validator interface {
	Validate() error
}

// CompleteJSON asks for structured output of type T: a strict json_schema reflected from T (or
// json_object with the schema in the prompt), then parses and validates the content against it.
// Output that does not parse or validate is an *OutputError of kind ErrInvalidOutput, never patched.
func CompleteJSON[T any](ctx context.Context, c *Client, req Request) (T, *Result, error) {
	var zero T
	schema, err := SchemaFor[T]()
	if err != nil {
		return zero, nil, err
	}
	req.Schema = schema
	var out T
	req.check = func(content string) error {
		v, err := Decode[T](schema, content)
		if err != nil {
			return err
		}
		out = v
		return nil
	}
	res, err := c.Complete(ctx, req)
	if err != nil {
		return zero, res, err
	}
	return out, res, nil
}

// Decode parses content as one JSON value, validates it against schema, decodes it into T and runs
// T's own Validate when it has one.
func Decode[T any](schema *Schema, content string) (T, error) {
	var zero T
	invalid := func(format string, args ...any) (T, error) {
		return zero, &OutputError{Kind: ErrInvalidOutput, Reason: fmt.Sprintf(format, args...)}
	}
	dec := json.NewDecoder(bytes.NewReader([]byte(content)))
	dec.UseNumber()
	var raw any
	if err := dec.Decode(&raw); err != nil {
		return invalid("not JSON: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return invalid("trailing data after the JSON value")
	}
	if err := Validate(schema.Schema, raw); err != nil {
		return invalid("off schema: %v", err)
	}
	var v T
	if err := json.Unmarshal([]byte(content), &v); err != nil {
		return invalid("decode: %v", err)
	}
	if val, ok := any(&v).(Validator); ok {
		if err := val.Validate(); err != nil {
			return invalid("%v", err)
		}
	}
	return v, nil
}
