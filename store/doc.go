// Package store owns all of xbot's SQL, over pgx. Methods take a DBTX (a pool or a transaction) so a
// caller can put a row change and the River job it inserts in one transaction. store implements the small
// interfaces that internal/* packages declare for their state (budget ledger, circuits, gate history,
// OAuth tokens, simulator state). It imports internal/* only for their types, never workers or cmd.
package store
