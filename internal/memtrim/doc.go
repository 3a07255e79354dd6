// Package memtrim gives back the pages of the running executable that only
// its start-up touched.
//
// quai is one executable that links every runtime (Kubernetes' API types
// among them). Each process of it runs the init functions of all its
// packages, and the kernel maps the code and read-only data they touch,
// plus the neighbouring pages it faults in around each of them, into the
// process: about 50 MB of a 78 MB executable, of which a daemon or a proxy
// at rest uses less than half again. Those pages are clean copies of the
// file. Trim drops them from the process (madvise MADV_DONTNEED on the
// executable's read-only mappings); the pages the process goes on using
// come back from the page cache at the cost of a minor fault each, once.
//
// Trim only touches private, read-only mappings of the executable file
// that hold no page of their own (Anonymous: 0 kB in /proc/self/smaps), so
// no content can be lost: what is dropped is what the file holds. On other
// systems it does nothing.
package memtrim
