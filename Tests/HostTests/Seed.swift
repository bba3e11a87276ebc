// Seed: replaced by the first real tests of HostTests.
