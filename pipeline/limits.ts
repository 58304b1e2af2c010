/** 40 MP: the default decompression-bomb limit (width × height of an image's first frame). */
export const DEFAULT_MAX_PIXELS = 40_000_000;
