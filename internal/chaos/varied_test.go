package chaos

import (
	"testing"

	"github.com/xbot/xbot/internal/gate"
	"github.com/xbot/xbot/internal/llm/llmtest"
)

// The suite needs the fake's texts to pass the content gates, or the uniqueness gate would starve it.
func TestVariedTextsPassTheGates(t *testing.T) {
	t.Parallel()
	var texts []string
	for seq := range 10 {
		for i := range 10 {
			texts = append(texts, llmtest.VariedText(seq, i+1))
		}
	}
	for i, a := range texts {
		if s := gate.Score(a); s < 0.8 {
			t.Fatalf("%q scores %.2f", a, s)
		}
		for _, b := range texts[i+1:] {
			if s := gate.Similarity(a, b); s >= 0.5 {
				t.Fatalf("%q and %q are %.2f similar", a, b, s)
			}
		}
	}
}
