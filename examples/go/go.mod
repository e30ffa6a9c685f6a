module libvmm-examples

go 1.19

require libvmm v0.0.0

replace libvmm => ../../bindings/go
