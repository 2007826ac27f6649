"""Demo data from reference 001 ("Mock Data"): three companies, eight roles with Draup
mappings, and a markdown job description for each, written for this project."""

from dataclasses import dataclass


@dataclass(frozen=True)
class DemoRole:
    company: str
    job_id: str
    name: str
    draup_role_id: str
    draup_role_name: str
    occupation: str
    job_family: str
    jd: str


DEMO_ROLES = [
    DemoRole('Liberty Mutual', 'lm-001', 'Claims Adjuster', 'DR-INS-CLAIMS', 'Insurance Claims Specialist', 'Claims Specialist', 'Claims Operations',
             "# Claims Adjuster\n\n## Overview\nThe Claims Adjuster at Liberty Mutual investigates insurance claims, assesses damage and liability, and settles claims fairly and promptly.\n\n## Key Responsibilities\n\n### Claims Investigation\n- Interview claimants, witnesses and policyholders\n- Inspect damaged property and review police and medical reports\n\n### Settlement\n- Calculate settlement amounts within authority limits\n- Negotiate settlements and document decisions\n\n## Requirements\n\n### Education\n- Bachelor's degree in business, finance or a related field\n\n### Experience\n- 3+ years of property and casualty claims handling\n\n### Skills\n- Negotiation\n- Attention to detail\n- Claims management systems\n"),
    DemoRole('Liberty Mutual', 'lm-002', 'Underwriter', 'DR-INS-UW', 'Insurance Underwriter', 'Underwriter', 'Underwriting',
             "# Underwriter\n\n## Overview\nThe Underwriter at Liberty Mutual evaluates applications for insurance, prices risk and decides on coverage terms.\n\n## Key Responsibilities\n\n### Risk Evaluation\n- Analyse applications, loss histories and inspection reports\n- Assess exposure against underwriting guidelines\n\n### Pricing and Terms\n- Set premiums and deductibles\n- Explain decisions to agents and brokers\n\n## Requirements\n\n### Education\n- Bachelor's degree in finance, economics or mathematics\n\n### Experience\n- 4+ years of commercial lines underwriting\n\n### Skills\n- Risk analysis\n- Financial modelling\n- Communication\n"),
    DemoRole('Liberty Mutual', 'lm-003', 'Risk Analyst', 'DR-INS-RISK', 'Risk Assessment Specialist', 'Risk Analyst', 'Enterprise Risk',
             "# Risk Analyst\n\n## Overview\nThe Risk Analyst at Liberty Mutual identifies, measures and reports the risks the company carries across its portfolio.\n\n## Key Responsibilities\n\n### Analysis\n- Build and maintain risk models\n- Monitor key risk indicators and exposures\n\n### Reporting\n- Prepare risk reports for leadership\n- Recommend mitigation actions\n\n## Requirements\n\n### Education\n- Bachelor's degree in statistics, actuarial science or finance\n\n### Experience\n- 2+ years of risk or actuarial analysis\n\n### Skills\n- SQL\n- Statistical modelling\n- Data visualisation\n"),
    DemoRole('Walmart Inc.', 'wm-001', 'Store Manager', 'DR-RET-SM', 'Retail Store Manager', 'Store Manager', 'Store Operations',
             "# Store Manager\n\n## Overview\nThe Store Manager at Walmart Inc. runs a store end to end: people, sales, inventory and the customer experience.\n\n## Key Responsibilities\n\n### Operations\n- Plan staffing and schedules\n- Control inventory, shrink and store standards\n\n### People\n- Hire, train and coach associates\n- Run daily huddles and performance reviews\n\n## Requirements\n\n### Education\n- High school diploma; bachelor's degree preferred\n\n### Experience\n- 5+ years of retail management\n\n### Skills\n- Leadership\n- P&L management\n- Scheduling\n"),
    DemoRole('Walmart Inc.', 'wm-002', 'Software Development Engineer', 'DR-TECH-SDE', 'Software Developer', 'Software Engineer', 'Technology',
             "# Software Development Engineer\n\n## Overview\nThe Software Development Engineer at Walmart Inc. designs, builds and operates the services behind Walmart's stores and e-commerce.\n\n## Key Responsibilities\n\n### Engineering\n- Design and write well-tested services\n- Review code and improve reliability\n\n### Operations\n- Own services in production, on call\n- Measure and improve performance\n\n## Requirements\n\n### Education\n- Bachelor's degree in computer science or equivalent experience\n\n### Experience\n- 2+ years building production software\n\n### Skills\n- Java or Python\n- Distributed systems\n- Cloud platforms\n"),
    DemoRole('Walmart Inc.', 'wm-003', 'Supply Chain Analyst', 'DR-SCM-AN', 'Supply Chain Specialist', 'Supply Chain Analyst', 'Supply Chain',
             "# Supply Chain Analyst\n\n## Overview\nThe Supply Chain Analyst at Walmart Inc. analyses the flow of goods from suppliers to stores to cut cost and keep shelves full.\n\n## Key Responsibilities\n\n### Planning\n- Forecast demand and replenishment\n- Model distribution centre capacity\n\n### Improvement\n- Find and fix bottlenecks\n- Report KPIs to supply chain leaders\n\n## Requirements\n\n### Education\n- Bachelor's degree in supply chain, operations or engineering\n\n### Experience\n- 2+ years of supply chain analytics\n\n### Skills\n- Excel and SQL\n- Forecasting\n- Logistics\n"),
    DemoRole('Acme Corporation', 'ac-001', 'Product Manager', 'DR-PROD-PM', 'Product Management Lead', 'Product Manager', 'Product',
             "# Product Manager\n\n## Overview\nThe Product Manager at Acme Corporation decides what Acme builds next and why, and sees it through to launch.\n\n## Key Responsibilities\n\n### Discovery\n- Interview customers and analyse usage\n- Write clear problem statements and specs\n\n### Delivery\n- Prioritise the roadmap with engineering and design\n- Launch features and measure outcomes\n\n## Requirements\n\n### Education\n- Bachelor's degree; MBA a plus\n\n### Experience\n- 4+ years of product management\n\n### Skills\n- Prioritisation\n- Data analysis\n- Stakeholder management\n"),
    DemoRole('Acme Corporation', 'ac-002', 'Data Scientist', 'DR-DATA-DS', 'Data Science Specialist', 'Data Scientist', 'Data & Analytics',
             "# Data Scientist\n\n## Overview\nThe Data Scientist at Acme Corporation turns Acme's data into models and insights that change decisions.\n\n## Key Responsibilities\n\n### Modelling\n- Build predictive models and experiments\n- Validate models and monitor them in production\n\n### Insight\n- Explore data to answer business questions\n- Present findings to non-technical audiences\n\n## Requirements\n\n### Education\n- Master's degree in a quantitative field\n\n### Experience\n- 3+ years of applied data science\n\n### Skills\n- Python\n- Machine learning\n- Experiment design\n"),
]
