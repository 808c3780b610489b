# Reference values for tests/unit/test_benchmark_r_crosscheck.py, computed with R's survival.
#   Rscript tests/data/r_coxph/coxph_efron.R tests/data/r_coxph
# Reads persons.csv; writes coxph_coefficients.csv (term, coef, se), coxph_fit.csv (loglik,
# concordance, n, events, R and survival versions), coxph_expected_by_kom.csv (sums of
# predict(type = "expected") per municipality) and km_rmean_by_kom.csv (Kaplan-Meier restricted
# mean to 104 weeks and its standard error per municipality, from print(survfit, rmean = 104)).
suppressPackageStartupMessages(library(survival))
args <- commandArgs(trailingOnly = TRUE)
dir <- if (length(args) >= 1) args[1] else "."
d <- read.csv(file.path(dir, "persons.csv"), stringsAsFactors = FALSE)

factors <- c("origin_region", "civil_status", "education_level")
for (f in factors) {
  tab <- table(d[[f]])
  ref <- sort(names(tab)[tab == max(tab)])[1]  # most frequent level, ties alphabetically
  d[[f]] <- relevel(factor(d[[f]]), ref = ref)
}
numeric <- c("age", "female", "children", "years_in_dk", "prior_employment_weeks",
             "prior_benefit_weeks", "prior_sick_weeks", "ledighed_pendling", "job_pr_indb",
             "andel_ikkevestlig", "andel_industri")
form <- as.formula(paste("Surv(duration, event) ~",
                         paste(c(numeric, factors), collapse = " + "), "+ strata(cohort_year)"))
fit <- coxph(form, data = d, ties = "efron")

terms <- names(coef(fit))
for (f in factors) {
  hit <- startsWith(terms, f)
  terms[hit] <- paste0(f, "[", substring(terms[hit], nchar(f) + 1), "]")
}
out <- data.frame(term = terms, coef = unname(coef(fit)), se = unname(sqrt(diag(vcov(fit)))))
write.csv(out, file.path(dir, "coxph_coefficients.csv"), row.names = FALSE)
write.csv(data.frame(loglik = fit$loglik[2], loglik_null = fit$loglik[1],
                     concordance = unname(fit$concordance["concordance"]),
                     n = fit$n, events = fit$nevent,
                     r_version = R.version.string,
                     survival_version = as.character(packageVersion("survival"))),
          file.path(dir, "coxph_fit.csv"), row.names = FALSE)

# expected events: R's default (Efron-type baseline, ctype 2) and, with the same coefficients
# held fixed (iter.max = 0), the Breslow baseline that kommunebench uses (sum E = sum O).
d$expected_efron <- predict(fit, type = "expected")
fit_breslow <- coxph(form, data = d, ties = "breslow", init = coef(fit),
                     control = coxph.control(iter.max = 0))
stopifnot(max(abs(coef(fit_breslow) - coef(fit))) == 0)
d$expected_breslow <- predict(fit_breslow, type = "expected")
e <- aggregate(cbind(expected_efron, expected_breslow, event) ~ kom, data = d, FUN = sum)
write.csv(e, file.path(dir, "coxph_expected_by_kom.csv"), row.names = FALSE)

km <- survfit(Surv(duration, event) ~ kom, data = d)
tab <- summary(km, rmean = 104)$table
write.csv(data.frame(kom = as.integer(sub("kom=", "", rownames(tab))),
                     rmean = tab[, "rmean"], se_rmean = tab[, "se(rmean)"]),
          file.path(dir, "km_rmean_by_kom.csv"), row.names = FALSE)
