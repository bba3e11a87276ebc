// Seed: replaced by the first real source of Switcher.
