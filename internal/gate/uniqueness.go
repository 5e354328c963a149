package gate

import "fmt"

// uniqueness is the third gate. Similarity is the Jaccard index of the two texts' word sets
// (|A∩B| / |A∪B|, words lower-cased, URLs and @handles removed): a reworded duplicate that adds or drops
// a word or two still scores high, while texts on one topic that say different things score low. A
// similarity at or above UniquenessThreshold to any recent text (or an earlier passed candidate of the
// batch) blocks.
func (c *Chain) uniqueness(cand Candidate, st *batchState) string {
	set := tokenSet(cand.Text)
	best := 0.0
	for _, s := range st.seen {
		best = max(best, Jaccard(set, s))
	}
	if best >= c.cfg.UniquenessThreshold && len(st.seen) > 0 {
		return fmt.Sprintf("similarity %.2f >= %.2f to a recent post", best, c.cfg.UniquenessThreshold)
	}
	return ""
}

// rotation is the fourth gate: once the window holds RotationMinPosts posts (history plus passed
// candidates of the batch), a topic whose share, counting the candidate, exceeds RotationMaxShare blocks.
func (c *Chain) rotation(cand Candidate, st *batchState) string {
	if cand.Topic == "" || st.total < c.cfg.RotationMinPosts {
		return ""
	}
	share := float64(st.counts[cand.Topic]+1) / float64(st.total+1)
	if share > c.cfg.RotationMaxShare {
		return fmt.Sprintf("topic %s would be %.0f%% of the last %d posts > %.0f%%",
			cand.Topic, 100*share, st.total+1, 100*c.cfg.RotationMaxShare)
	}
	return ""
}

func tokenSet(text string) map[string]struct{} {
	ws := contentWords(text)
	set := make(map[string]struct{}, len(ws))
	for _, w := range ws {
		set[w] = struct{}{}
	}
	return set
}

// Jaccard is |a∩b| / |a∪b|; two empty sets are identical (1).
func Jaccard(a, b map[string]struct{}) float64 {
	if len(a) == 0 && len(b) == 0 {
		return 1
	}
	inter := 0
	for w := range a {
		if _, ok := b[w]; ok {
			inter++
		}
	}
	return float64(inter) / float64(len(a)+len(b)-inter)
}

// Similarity is the uniqueness gate's measure between two texts.
func Similarity(a, b string) float64 { return Jaccard(tokenSet(a), tokenSet(b)) }
