// Appendix X begins here; the sections arrive with the machine.
