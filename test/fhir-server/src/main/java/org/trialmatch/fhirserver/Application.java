package org.trialmatch.fhirserver;

import ca.uhn.fhir.util.VersionUtil;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.boot.context.event.ApplicationReadyEvent;
import org.springframework.boot.autoconfigure.elasticsearch.ElasticsearchClientAutoConfiguration;
import org.springframework.boot.autoconfigure.elasticsearch.ElasticsearchRestClientAutoConfiguration;
import org.springframework.boot.autoconfigure.orm.jpa.HibernateJpaAutoConfiguration;
import org.springframework.boot.autoconfigure.quartz.QuartzAutoConfiguration;
import org.springframework.boot.autoconfigure.thymeleaf.ThymeleafAutoConfiguration;
import org.springframework.boot.web.context.WebServerApplicationContext;
import org.springframework.context.ApplicationListener;

/**
 * HAPI FHIR R4 JPA server on an in-memory H2 database, for TrialMatch CDS integration tests on machines
 * without Docker. Port: --server.port=N or SERVER_PORT. FHIR base: http://host:port/fhir
 */
@SpringBootApplication(
		exclude = {
			// HAPI builds its own EntityManagerFactory (FhirServerConfig); Boot's would be a second one.
			HibernateJpaAutoConfiguration.class,
			// HAPI runs its own Quartz scheduler (HapiSchedulerServiceImpl); Boot's would start a second one.
			QuartzAutoConfiguration.class,
			// On the classpath only as HAPI dependencies (narratives, optional Elasticsearch backend).
			ThymeleafAutoConfiguration.class,
			ElasticsearchClientAutoConfiguration.class,
			ElasticsearchRestClientAutoConfiguration.class
		})
public class Application {
	private static final Logger ourLog = LoggerFactory.getLogger(Application.class);
	private static final long ourStartNanos = System.nanoTime();

	public static void main(String[] args) {
		SpringApplication app = new SpringApplication(Application.class);
		// Logged once everything is up (servlet initialised, HAPI schedulers started). Test harnesses
		// can wait for this line, or poll GET /fhir/metadata until it answers 200.
		app.addListeners((ApplicationListener<ApplicationReadyEvent>) event -> ourLog.info(
				"HAPI FHIR test server {} ready on port {} in {} ms",
				VersionUtil.getVersion(),
				((WebServerApplicationContext) event.getApplicationContext())
						.getWebServer()
						.getPort(),
				(System.nanoTime() - ourStartNanos) / 1_000_000));
		app.run(args);
	}
}
