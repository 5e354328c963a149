// Package migrations owns xbot's numbered SQL migrations (NNN_name.sql), embedded into the binary.
// River's own tables are not here: they come from rivermigrate. Applying them is store's job.
package migrations
