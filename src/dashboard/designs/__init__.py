"""Impact designs, one module each (wdd, event_study, its, survey), with the shared Poisson fit (poisson), the
choice of areas (selection) and the whole analysis (analysis). Pure code over small aggregated frames: no
Streamlit, no plotting; the only reads are analysis.impact_on's, through the store it is handed.
"""
