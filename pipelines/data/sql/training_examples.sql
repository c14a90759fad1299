-- Training examples for the ad-click model.
-- One query for every environment: BigQueryExampleGen runs it on BigQuery in the cloud, and the
-- local ExampleGen runs it on embedded DuckDB over the span files. {source_table} is replaced by
-- the table (`project.dataset.table` on BigQuery, a view over the local files on DuckDB).
-- Keep to syntax both engines accept: plain SELECT/CAST/WHERE, INT64/FLOAT64/STRING types.
SELECT
  CAST(DailyTimeSpentOnSite AS FLOAT64) AS DailyTimeSpentOnSite,
  CAST(Age AS INT64) AS Age,
  CAST(AreaIncome AS FLOAT64) AS AreaIncome,
  CAST(DailyInternetUsage AS FLOAT64) AS DailyInternetUsage,
  CAST(AdTopicLine AS STRING) AS AdTopicLine,
  CAST(City AS STRING) AS City,
  CAST(Male AS INT64) AS Male,
  CAST(Country AS STRING) AS Country,
  CAST(Timestamp AS STRING) AS Timestamp,
  CAST(ClickedOnAd AS INT64) AS ClickedOnAd
FROM {source_table}
WHERE ClickedOnAd IS NOT NULL
