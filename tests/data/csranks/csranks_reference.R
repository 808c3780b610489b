# Reference confidence sets for ranks from csranks (Mogstad, Romano, Shaikh and Wilhelm 2024),
# for tests/unit/test_benchmark_inference.py::test_rank_sets_equal_csranks. Input from make_input.py.
library(csranks)
here <- "tests/data/csranks"
n_top <- 6
for (case in c("wide", "sharp")) {
  x <- as.numeric(read.csv(file.path(here, sprintf("theta_%s.csv", case)), header = FALSE)[, 1])
  Sigma <- as.matrix(read.csv(file.path(here, sprintf("sigma_%s.csv", case)), header = FALSE))
  dimnames(Sigma) <- NULL
  cs <- csranks(x, Sigma, coverage = 0.90, cstype = "two-sided", stepdown = TRUE, R = 50000, simul = TRUE, seed = 1)
  top <- cstaubest(x, Sigma, tau = n_top, coverage = 0.90, stepdown = TRUE, R = 50000, seed = 1)
  bottom <- cstauworst(x, Sigma, tau = n_top, coverage = 0.90, stepdown = TRUE, R = 50000, seed = 1)
  out <- data.frame(unit = seq_along(x) - 1, rank = cs$rank, lower = cs$L, upper = cs$U, top_set = top, bottom_set = bottom)
  write.csv(out, file.path(here, sprintf("csranks_%s.csv", case)), row.names = FALSE)
}
cat(sprintf("csranks %s\n", as.character(packageVersion("csranks"))))
