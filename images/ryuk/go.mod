module chatstack.local/ryuk

go 1.19
