package xsim

import (
	"encoding/json"
	"net/http"
	"time"
)

// controlRoutes are the /_sim/ endpoints a test or operator drives a standalone simulator with:
//
//	GET    /_sim/state             seed, simulated now, default rate
//	POST   /_sim/clock             {"advance":"2h"}
//	GET    /_sim/faults            the scripted faults
//	POST   /_sim/faults            one fault, e.g. {"endpoint":"create_post","kind":"timeout_after","count":1}
//	DELETE /_sim/faults            remove them all
//	GET    /_sim/rates             hidden rates
//	PUT    /_sim/rates             {"default_rate":0.02,"rates":[{"topic":"go","format":"*","hook":"*","hour":-1,"rate":0.05}]}
//	DELETE /_sim/rates             remove them all
//	POST   /_sim/mentions          {"n":5}
//
// They carry no X auth: the simulator is test infrastructure and must not face the internet.
func (s *Server) controlRoutes() {
	s.mux.HandleFunc("GET /_sim/state", func(w http.ResponseWriter, r *http.Request) {
		st, err := s.store.State(r.Context())
		if err != nil {
			s.controlError(w, http.StatusInternalServerError, err)
			return
		}
		controlJSON(w, map[string]any{
			"seed": st.Seed, "now": s.cfg.Clock.Now().Add(st.ClockOffset).UTC().Format(time.RFC3339Nano),
			"clock_offset": time.Duration(st.ClockOffset).String(), "default_rate": st.DefaultRate,
			"user_id": idStr(s.cfg.UserID), "username": s.cfg.Username,
		})
	})
	s.mux.HandleFunc("POST /_sim/clock", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Advance Duration `json:"advance"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			s.controlError(w, http.StatusBadRequest, err)
			return
		}
		if err := s.AdvanceClock(r.Context(), time.Duration(body.Advance)); err != nil {
			s.controlError(w, http.StatusBadRequest, err)
			return
		}
		now, err := s.Now(r.Context())
		if err != nil {
			s.controlError(w, http.StatusInternalServerError, err)
			return
		}
		controlJSON(w, map[string]any{"now": now.UTC().Format(time.RFC3339Nano)})
	})
	s.mux.HandleFunc("GET /_sim/faults", func(w http.ResponseWriter, r *http.Request) {
		fs, err := s.store.Faults(r.Context())
		if err != nil {
			s.controlError(w, http.StatusInternalServerError, err)
			return
		}
		controlJSON(w, map[string]any{"faults": fs})
	})
	s.mux.HandleFunc("POST /_sim/faults", func(w http.ResponseWriter, r *http.Request) {
		var f Fault
		if err := json.NewDecoder(r.Body).Decode(&f); err != nil {
			s.controlError(w, http.StatusBadRequest, err)
			return
		}
		out, err := s.AddFault(r.Context(), f)
		if err != nil {
			s.controlError(w, http.StatusBadRequest, err)
			return
		}
		controlJSON(w, out)
	})
	s.mux.HandleFunc("DELETE /_sim/faults", func(w http.ResponseWriter, r *http.Request) {
		if err := s.ClearFaults(r.Context()); err != nil {
			s.controlError(w, http.StatusInternalServerError, err)
			return
		}
		controlJSON(w, map[string]any{"cleared": true})
	})
	s.mux.HandleFunc("GET /_sim/rates", func(w http.ResponseWriter, r *http.Request) {
		rs, err := s.store.Rates(r.Context())
		if err != nil {
			s.controlError(w, http.StatusInternalServerError, err)
			return
		}
		st, err := s.store.State(r.Context())
		if err != nil {
			s.controlError(w, http.StatusInternalServerError, err)
			return
		}
		controlJSON(w, map[string]any{"default_rate": st.DefaultRate, "rates": rs})
	})
	s.mux.HandleFunc("PUT /_sim/rates", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			DefaultRate *float64 `json:"default_rate"`
			Rates       []Rate   `json:"rates"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			s.controlError(w, http.StatusBadRequest, err)
			return
		}
		if body.DefaultRate != nil {
			if err := s.SetDefaultRate(r.Context(), *body.DefaultRate); err != nil {
				s.controlError(w, http.StatusBadRequest, err)
				return
			}
		}
		for _, rt := range body.Rates {
			if err := s.SetRate(r.Context(), rt); err != nil {
				s.controlError(w, http.StatusBadRequest, err)
				return
			}
		}
		controlJSON(w, map[string]any{"rates": len(body.Rates)})
	})
	s.mux.HandleFunc("DELETE /_sim/rates", func(w http.ResponseWriter, r *http.Request) {
		if err := s.store.ClearRates(r.Context()); err != nil {
			s.controlError(w, http.StatusInternalServerError, err)
			return
		}
		controlJSON(w, map[string]any{"cleared": true})
	})
	s.mux.HandleFunc("POST /_sim/mentions", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			N int `json:"n"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			s.controlError(w, http.StatusBadRequest, err)
			return
		}
		posts, err := s.SeedMentions(r.Context(), body.N)
		if err != nil {
			s.controlError(w, http.StatusBadRequest, err)
			return
		}
		ids := make([]string, len(posts))
		for i, p := range posts {
			ids[i] = idStr(p.ID)
		}
		controlJSON(w, map[string]any{"ids": ids})
	})
}

func controlJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func (s *Server) controlError(w http.ResponseWriter, status int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
}
