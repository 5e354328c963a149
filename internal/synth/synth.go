package synth

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

var (
	openers = map[string][]string{
		"bold_claim": {"Most %s advice is backwards.", "Here is the %s lesson nobody tells you.", "%s is simpler than it looks."},
		"question":   {"What is the one %s habit you would keep?", "Why do we still get %s wrong?", "Ever wondered what makes %s click?"},
		"number":     {"3 things I learned about %s this week:", "After 5 years of %s, two rules stuck.", "1 small change to %s saved us hours."},
		"contrarian": {"Unpopular opinion about %s:", "Everyone says %s needs more tooling. It needs less.", "Hot take: %s is mostly about people."},
		"none":       {"A note on %s.", "Thinking about %s today.", "On %s:"},
	}
	bodies = map[string][]string{
		"tip":      {"Measure before you change anything, then change one thing.", "Write the rollback before the rollout.", "Name things for what they do, not how."},
		"question": {"Curious how others handle it.", "What would you add?", "Where did it bite you first?"},
		"story":    {"Last week a tiny config change taught me this the hard way.", "We shipped it on a Friday. We learned.", "A teammate asked one question and the design fell apart, for the better."},
		"hot_take": {"Most complexity is self-inflicted.", "Boring tools win long races.", "The fastest code is the code you delete."},
		"list":     {"Keep it small. Keep it observable. Keep it reversible.", "Logs, metrics, traces: in that order of usefulness for most teams.", "Read the error. Read the docs. Then read the source."},
	}
	closers = []string{"", " Worth a try.", " Your mileage may vary.", " Learned it slowly.", " Still true."}
)

// Post writes one synthetic post for the given arms. Unknown arm names fall back to neutral phrasing.
func Post(rng *rand.Rand, topic, format, hook string) string {
	subject := strings.ReplaceAll(topic, "_", " ")
	op := pick(rng, openers[hook], openers["none"])
	body := pick(rng, bodies[format], bodies["tip"])
	text := fmt.Sprintf(op, subject) + " " + body + closers[rng.IntN(len(closers))]
	return strings.TrimSpace(text)
}

func pick(rng *rand.Rand, from, fallback []string) string {
	if len(from) == 0 {
		from = fallback
	}
	return from[rng.IntN(len(from))]
}

// Reply writes one synthetic reply to a mention by username.
func Reply(rng *rand.Rand, username string) string {
	replies := []string{"Thanks for the mention, good point.", "Appreciate it. Agreed on the main idea.", "Fair question. Short answer: it depends on the workload.", "Thanks! Glad it was useful."}
	return replies[rng.IntN(len(replies))]
}
