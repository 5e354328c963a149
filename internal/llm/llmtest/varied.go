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

// variedInstance is like Instance, but every string is a distinct VariedText and arrays hold n items.
func variedInstance(schema map[string]any, seq, n int, next *int) any {
	switch schema["type"] {
	case "object":
		props, _ := schema["properties"].(map[string]any)
		out := map[string]any{}
		for k, v := range props {
			if sub, ok := v.(map[string]any); ok {
				out[k] = variedInstance(sub, seq, n, next)
			}
		}
		return out
	case "array":
		items, _ := schema["items"].(map[string]any)
		out := []any{}
		for range n {
			if items != nil {
				out = append(out, variedInstance(items, seq, n, next))
			}
		}
		return out
	case "string":
		*next++
		return VariedText(seq, *next)
	}
	return Instance(schema)
}

// variedContent is a valid, varied answer to req: nil when the request has no schema.
func variedContent(req Request, seq int) any {
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
	return variedInstance(schema, seq, n, &next)
}
