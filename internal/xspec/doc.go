// Package xspec checks HTTP traffic against X's production OpenAPI spec (X API v2, version 2.167), for
// contract tests of the X client (internal/xapi) and the simulator (internal/xsim).
//
// It owns: finding the spec file from the module root (the folder holding go.mod; the spec lives in the
// sibling folder shared/specs), loading and routing it with kin-openapi, validating requests (route, path
// and query parameters, unknown query parameters, JSON body) and responses (status, content type, body),
// the one explicit exemption for the plain about:blank bodies X really sends for 401, 403 and 429, and a
// RoundTripper that fails a test on any mismatch.
//
// It is a test helper: Load memoizes the parsed spec per process. It must not import store, workers,
// cmd, or the packages it checks (xapi, xsim).
package xspec
