module fapigateway/helmrender

go 1.19
