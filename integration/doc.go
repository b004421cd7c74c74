// Package integration tests hyperfs against the pinned JavaScript reference
// stack (integration/js) and, later, real FUSE mounts. It holds only tests.
package integration
