package llmtest

import (
	"encoding/binary"
	"encoding/json"
	"hash/fnv"
	"regexp"
	"strconv"
	"strings"
)

// itemsAsked finds how many items a prompt asks for ("exactly 12 item(s)"); 1 when it does not say.
var itemsAsked = regexp.MustCompile(`(?i)exactly (\d+) item`)

// variedWords is a neutral vocabulary: no word a content gate refuses, no handle, link or hashtag.
var variedWords = strings.Fields(`
	harbor lantern meadow circuit compass orchard glacier pocket ribbon summit canvas thunder velvet
	quarry anchor blossom cobalt dune ember fable garnet hollow island jasmine kettle ledger marble
	nectar oasis pebble quartz raven saddle timber umber violet willow yonder zephyr almond bramble
	cedar delta falcon grove heron indigo juniper kernel lagoon mosaic nimbus opal prairie quill
	ridge sierra tundra upland valley walnut anvil beacon cascade dynamo estuary fjord gazebo
	hammock igloo jetty kayak lattice monsoon nomad outpost paddle quiver rampart sextant trellis
	vessel wander acorn banner cradle dapple easel fresco goblet hinge ivory jigsaw knapsack
	lilac mantle needle oyster parcel radish spindle tapestry urchin vintage wicker basalt caramel
	dolphin emerald flint granite hazel iris jade kiwi lemon mango nutmeg olive pepper quince
	rhubarb saffron thyme vanilla barley clover daisy fennel ginger heather lotus maple nettle
	orchid poppy sorrel tulip yarrow arches bridges cabins docks engines ferries gardens harbors
	kitchens ladders markets notebooks orbits pianos rivers schools towers wheels yachts builds
	sketches measures gathers polishes travels collects balances carries follows shapes tunes
	quietly boldly gently swiftly calmly brightly slowly warmly plainly neatly freshly
`)

// VariedText is a distinct ordinary sentence for (seq, i): fourteen different words from a vocabulary of
// two hundred, so two of them share few words and a uniqueness gate lets them through.
func VariedText(seq, i int) string {
	h := fnv.New64a()
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], uint64(seq))
	binary.LittleEndian.PutUint64(b[8:], uint64(i))
	h.Write(b[:])
	state := h.Sum64() | 1
	next := func(n int) int {
		state ^= state << 13
		state ^= state >> 7
		state ^= state << 17
		return int(state % uint64(n))
	}
	used := map[int]bool{}
	ws := make([]string, 0, 14)
	for len(ws) < 14 {
		k := next(len(variedWords))
		if used[k] {
			continue
		}
		used[k] = true
		ws = append(ws, variedWords[k])
	}
	ws[0] = strings.ToUpper(ws[0][:1]) + ws[0][1:]
	// Two in three carry a character X entity-escapes on reads (& or <), so the posting protocol's text
	// comparison meets X's shapes under load.
	joint := []string{", then ", " & then ", " <- then "}[(seq+i)%3]
	return strings.Join(ws[:7], " ") + joint + strings.Join(ws[7:], " ") + " (note " + strconv.Itoa(seq) + "." + strconv.Itoa(i) + ")."
}

// variedHash is a number in [0, 1) fixed by (seq, i, salt).
func variedHash(seq, i int, salt uint64) float64 {
	h := fnv.New64a()
	var b [24]byte
	binary.LittleEndian.PutUint64(b[:8], uint64(seq))
	binary.LittleEndian.PutUint64(b[8:16], uint64(i))
	binary.LittleEndian.PutUint64(b[16:], salt)
	h.Write(b[:])
	return float64(h.Sum64()>>11) / (1 << 53)
}

// flaws are what a FlawedShare draft carries, one each: every one fails a content gate (safety: a link or
// a handle the prompt did not supply; quality: more hashtags than allowed).
var flaws = []string{" More at https://example.com/offer", " Ask @someone_else about it", " #one #two #three #four"}

// variedString is VariedText(seq, i), with one of flaws when the hash of (seq, i) falls under flawed.
func variedString(seq, i int, flawed float64) string {
	text := VariedText(seq, i)
	if flawed > 0 && variedHash(seq, i, 0xf1a3) < flawed {
		text += flaws[int(variedHash(seq, i, 0xf1a4)*float64(len(flaws)))]
	}
	return text
}

// variedInstance is like Instance, but every string is a distinct VariedText (flawed as variedString
// says) and arrays hold n items.
func variedInstance(schema map[string]any, seq, n int, next *int, flawed float64) any {
	switch schema["type"] {
	case "object":
		props, _ := schema["properties"].(map[string]any)
		out := map[string]any{}
		for k, v := range props {
			if sub, ok := v.(map[string]any); ok {
				out[k] = variedInstance(sub, seq, n, next, flawed)
			}
		}
		return out
	case "array":
		items, _ := schema["items"].(map[string]any)
		out := []any{}
		for range n {
			if items != nil {
				out = append(out, variedInstance(items, seq, n, next, flawed))
			}
		}
		return out
	case "string":
		*next++
		return variedString(seq, *next, flawed)
	}
	return Instance(schema)
}

// variedContent is a valid, varied answer to req (a flawed share of its strings flawed): nil when the
// request has no schema.
func variedContent(req Request, seq int, flawed float64) any {
	schema := req.Schema
	if schema == nil && req.ResponseFormat == "json_object" {
		for _, m := range req.Messages {
			if _, after, ok := strings.Cut(m.Content, schemaMarker); ok {
				_ = json.Unmarshal([]byte(after), &schema)
			}
		}
	}
	if schema == nil {
		return nil
	}
	n := 1
	if m := itemsAsked.FindStringSubmatch(req.User()); m != nil {
		if v, err := strconv.Atoi(m[1]); err == nil && v > 0 && v <= 100 {
			n = v
		}
	}
	next := 0
	return variedInstance(schema, seq, n, &next, flawed)
}
