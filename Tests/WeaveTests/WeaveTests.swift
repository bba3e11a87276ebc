// Tests of Appendix W arrive with weave.
