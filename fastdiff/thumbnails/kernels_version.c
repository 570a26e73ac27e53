/* The interface version of the compiled kernels: fastdiff.thumbnails.native loads the library only where this
 * equals its own VERSION, so that a library built from other sources (an editable install not rebuilt after a
 * change to a kernel's arguments or buffers) is never called. Raise both together. */
int kernels_version(void) { return 3; }
