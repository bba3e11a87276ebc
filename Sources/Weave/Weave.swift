// The weaving library; see Appendix W.
