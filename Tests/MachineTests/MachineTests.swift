// Tests of Appendix X arrive with the machine.
