package api

// DecodeModel exposes decodeModel to the external tests.
var DecodeModel = decodeModel
