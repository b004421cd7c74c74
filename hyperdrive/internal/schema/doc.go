// Package schema holds hyperdrive-schemas' Stat and Mount messages,
// generated from schema.proto. Package hyperdrive wraps them in its own
// types.
package schema

// schema.pb.go is generated with protoc and protoc-gen-go v1.36.12
// (go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12) on PATH:
//go:generate protoc --go_out=. --go_opt=paths=source_relative schema.proto
