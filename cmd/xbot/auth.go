package main

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net"
	"net/http"
)

// webAuth holds the web server's access rules (README "Operating xbot"):
//
//   - open: /healthz and /readyz, for load balancers and orchestrators.
//   - metrics: /metrics and /api/metrics take the bearer METRICS_TOKEN when one is set, else are open.
//   - page: read-only operator pages (the status page, /api/decisions) need basic auth when RIVERUI_PASSWORD
//     is set; without a password they are open (xbot dev listens on loopback only).
//   - operator: River UI and every endpoint that changes state need basic auth; without a password they are
//     off (404 saying how to turn them on).
//
// Every request with an unsafe method must also be same-origin (Sec-Fetch-Site / Origin), so a page the
// operator visits cannot use their logged-in browser against the fleet; that check wraps the whole server.
type webAuth struct {
	user, password string
	metricsToken   string
}

// realm is what browsers show in the basic-auth prompt.
const realm = `Basic realm="xbot", charset="UTF-8"`

// operatorOff is the body of an operator endpoint while no password is set.
const operatorOff = "River UI and the operator endpoints are off: set RIVERUI_PASSWORD (and RIVERUI_USER, default admin) to turn them on\n"

// page guards a read-only operator page.
func (a *webAuth) page(h http.Handler) http.Handler {
	if a.password == "" {
		return h
	}
	return a.basic(h)
}

// operator guards River UI and state-changing endpoints.
func (a *webAuth) operator(h http.Handler) http.Handler {
	if a.password == "" {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, operatorOff, http.StatusNotFound)
		})
	}
	return a.basic(h)
}

// metrics guards the scrape endpoints with the optional bearer token.
func (a *webAuth) metrics(h http.Handler) http.Handler {
	if a.metricsToken == "" {
		return h
	}
	want := sha256.Sum256([]byte("Bearer " + a.metricsToken))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := sha256.Sum256([]byte(r.Header.Get("Authorization")))
		if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="xbot metrics"`)
			http.Error(w, "unauthorized: send Authorization: Bearer $METRICS_TOKEN", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// basic requires RIVERUI_USER / RIVERUI_PASSWORD. Both are compared in constant time (through their
// hashes, so neither length leaks either).
func (a *webAuth) basic(h http.Handler) http.Handler {
	wantUser, wantPass := sha256.Sum256([]byte(a.user)), sha256.Sum256([]byte(a.password))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		gotUser, gotPass := sha256.Sum256([]byte(user)), sha256.Sum256([]byte(pass))
		userOK := subtle.ConstantTimeCompare(gotUser[:], wantUser[:])
		passOK := subtle.ConstantTimeCompare(gotPass[:], wantPass[:])
		if !ok || userOK&passOK != 1 {
			w.Header().Set("WWW-Authenticate", realm)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// maxBodyBytes bounds every request body; River UI's largest requests are lists of job ids.
const maxBodyBytes = 1 << 20

// hardened wraps the whole server: bodies over maxBodyBytes are refused (413 when declared, a failed read
// otherwise) and unsafe cross-origin requests are refused with 403.
func hardened(h http.Handler) http.Handler {
	csrf := http.NewCrossOriginProtection()
	csrf.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "cross-origin request refused", http.StatusForbidden)
	}))
	limited := http.MaxBytesHandler(csrf.Handler(h), maxBodyBytes)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > maxBodyBytes {
			http.Error(w, fmt.Sprintf("request body over %d bytes", maxBodyBytes), http.StatusRequestEntityTooLarge)
			return
		}
		limited.ServeHTTP(w, r)
	})
}

// isLoopback reports whether a listen address binds to loopback only.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
