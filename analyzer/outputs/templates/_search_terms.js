  /* the words of a text as analyzer/outputs/search_index.py:search_terms sees them:
     NFKD, marks dropped, lower case, split at anything that is not a letter or a digit */
  function searchTerms(value) {
    return value.normalize("NFKD").replace(/\p{M}/gu, "").toLowerCase().match(/[\p{L}\p{N}]+/gu) || [];
  }
