package migrations

import "embed"

// FS holds the numbered SQL files, applied in name order.
//
//go:embed *.sql
var FS embed.FS
