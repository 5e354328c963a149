// Command xbot is the one binary of the fleet: migrate, web, worker, dev, status, enqueue, sim, llm and x.
// It is wiring only: it parses configuration, opens the database, builds the clients and hands them to
// workers and servers. The Main type lets tests start the real program.
package main
